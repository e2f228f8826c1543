"""termsvc: FHIR terminology and code-mapping service for the HL7 Europe Imaging Report IG."""
