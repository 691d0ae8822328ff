"""The customer's side (本人): identity (enrolment with what is printed on the bill, one-time
codes by e-mail, sessions) and what the customer sees of the use of their data."""
