"""Usage inquiry by consent (使用量情報照会): :mod:`jointuse.usage.inquiry`."""
