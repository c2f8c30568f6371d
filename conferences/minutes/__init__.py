"""Minutes of a conference: a draft assembled at close, approved into immutable versions,
exported as PDF per audience (see docs/minutes.md)."""
