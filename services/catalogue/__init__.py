"""The catalogue service: hubs, events and their sessions; public hub calendars."""
