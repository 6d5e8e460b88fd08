"""A standalone laboratory simulator (development and tests): HL7 v2 orders in, results out, over MLLP."""
