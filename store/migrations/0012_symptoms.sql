-- Faults seen in the car's live data (the knowledge base's symptoms, as
-- the rules name them) that a lead asks shops to fix and a booking is
-- to fix, beside the trouble codes: verify-the-fix watches them too.
-- Comma-separated symptom ids, as codes are.
ALTER TABLE leads ADD COLUMN symptoms TEXT NOT NULL DEFAULT '';
ALTER TABLE bookings ADD COLUMN symptoms TEXT NOT NULL DEFAULT '';
