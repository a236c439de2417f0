-- V12: External Account Binding credentials of a custom CA entry (key id, and the HMAC key sealed)

ALTER TABLE acme_cas
  ADD COLUMN eab_kid VARCHAR(255) NULL,
  ADD COLUMN eab_hmac_encrypted TEXT NULL;
