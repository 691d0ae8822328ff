// Passkeys (WebAuthn): adding one on /my/passkeys, signing in with one on /my/sign-in.
// Progressive enhancement: the parts using it are hidden until this file finds WebAuthn in the
// browser; the code sign-in works without it. The server's options arrive as JSON with
// base64url strings for the binary fields; the browser's answer goes back the same way.
(function () {
  "use strict";

  function fromB64url(text) {
    var b64 = text.replace(/-/g, "+").replace(/_/g, "/");
    while (b64.length % 4) {
      b64 += "=";
    }
    var raw = atob(b64);
    var bytes = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) {
      bytes[i] = raw.charCodeAt(i);
    }
    return bytes.buffer;
  }

  function toB64url(buffer) {
    var bytes = new Uint8Array(buffer);
    var raw = "";
    for (var i = 0; i < bytes.length; i++) {
      raw += String.fromCharCode(bytes[i]);
    }
    return btoa(raw).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function decodeDescriptors(list) {
    return (list || []).map(function (d) {
      var copy = Object.assign({}, d);
      copy.id = fromB64url(d.id);
      return copy;
    });
  }

  function creationOptions(o) {
    var options = Object.assign({}, o);
    options.challenge = fromB64url(o.challenge);
    options.user = Object.assign({}, o.user, { id: fromB64url(o.user.id) });
    options.excludeCredentials = decodeDescriptors(o.excludeCredentials);
    return options;
  }

  function requestOptions(o) {
    var options = Object.assign({}, o);
    options.challenge = fromB64url(o.challenge);
    options.allowCredentials = decodeDescriptors(o.allowCredentials);
    return options;
  }

  function answerJSON(credential) {
    var r = credential.response;
    var out = {
      id: credential.id,
      rawId: toB64url(credential.rawId),
      type: credential.type,
      authenticatorAttachment: credential.authenticatorAttachment || null,
      clientExtensionResults: credential.getClientExtensionResults(),
      response: { clientDataJSON: toB64url(r.clientDataJSON) }
    };
    if (r.attestationObject) {
      out.response.attestationObject = toB64url(r.attestationObject);
      if (typeof r.getTransports === "function") {
        out.response.transports = r.getTransports();
      }
    } else {
      out.response.authenticatorData = toB64url(r.authenticatorData);
      out.response.signature = toB64url(r.signature);
      out.response.userHandle = r.userHandle ? toB64url(r.userHandle) : null;
    }
    return out;
  }

  function post(url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify(body)
    }).then(function (response) {
      return response.json().then(function (data) {
        if (!response.ok) {
          throw new Error(data.message || String(response.status));
        }
        return data;
      });
    });
  }

  function showError(box, text) {
    box.textContent = text;
    box.hidden = false;
  }

  function setUpSignIn(section) {
    var button = section.querySelector("button");
    var box = section.querySelector("[role=alert]");
    var csrf = section.getAttribute("data-csrf");
    section.hidden = false;
    button.addEventListener("click", function () {
      button.disabled = true;
      box.hidden = true;
      post(section.getAttribute("data-options"), { csrf: csrf })
        .then(function (options) {
          return navigator.credentials.get({ publicKey: requestOptions(options) });
        })
        .then(function (credential) {
          return post(section.getAttribute("data-finish"), {
            csrf: csrf,
            credential: answerJSON(credential)
          });
        })
        .then(function (done) {
          window.location.assign(done.redirect);
        })
        .catch(function () {
          showError(box, section.getAttribute("data-failed"));
          button.disabled = false;
        });
    });
  }

  function setUpAdd(form) {
    var box = form.querySelector("[role=alert]");
    var button = form.querySelector("button[type=submit]");
    var csrf = form.querySelector("input[name=csrf]").value;
    var note = document.getElementById("passkey-needs-script");
    form.hidden = false;
    if (note) {
      note.hidden = true;
    }
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      button.disabled = true;
      box.hidden = true;
      var label = form.querySelector("input[name=label]").value;
      post(form.getAttribute("data-options"), { csrf: csrf })
        .then(function (options) {
          return navigator.credentials.create({ publicKey: creationOptions(options) });
        })
        .then(function (credential) {
          return post(form.getAttribute("data-finish"), {
            csrf: csrf,
            label: label,
            credential: answerJSON(credential)
          });
        })
        .then(function (done) {
          window.location.assign(done.redirect);
        })
        .catch(function () {
          showError(box, form.getAttribute("data-failed"));
          button.disabled = false;
        });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    if (!window.PublicKeyCredential || !navigator.credentials || !window.fetch) {
      return;
    }
    var section = document.getElementById("passkey-sign-in");
    if (section) {
      setUpSignIn(section);
    }
    var form = document.getElementById("passkey-add");
    if (form) {
      setUpAdd(form);
    }
  });
})();
