"""The kernel every eyhub component uses: config, db, web, messaging, auth, calendar, mail."""
