-- U12: undo V12, drops the EAB columns of acme_cas

ALTER TABLE acme_cas
  DROP COLUMN eab_hmac_encrypted,
  DROP COLUMN eab_kid;
