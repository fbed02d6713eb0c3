"""The mentoring service: mentor profiles, requests, matching, caseload and mentoring meetings."""
