"""The IG's bindings: what the build can judge of each (`termsvc ig-report`), and the coded
elements of resources judged against them (`termsvc check-resource`)."""
