"""A stand-in pharmacy for development and tests: speaks NCPDP SCRIPT 2017071 over HTTP.

Run with ``python -m pharmacy_sim --port 8765``. See ``pharmacy_sim.server`` for the endpoints.
"""
