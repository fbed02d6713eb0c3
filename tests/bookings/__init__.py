"""Bookings service tests (in-process, on both backends where the database matters)."""
