"""The operations' typed answers (termsvc.results) said as FHIR: one module per kind of answer, each
rendering R5 and R4. The operations never build their wire format; the router, a batch and anything
else that answers over HTTP call these."""
