"""stripe-local (shared/stripe_local): the local Stripe stand-in, driven through the real SDK."""
