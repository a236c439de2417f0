-- V12: External Account Binding credentials of a custom CA entry (key id, and the HMAC key sealed)

ALTER TABLE acme_cas ADD COLUMN eab_kid TEXT CHECK (length(eab_kid) <= 255);
ALTER TABLE acme_cas ADD COLUMN eab_hmac_encrypted TEXT;
