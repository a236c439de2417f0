-- U11: undo V11, drops the ACME tables

DROP TABLE IF EXISTS certificate_issuance;
DROP TABLE IF EXISTS dns_providers;
DROP TABLE IF EXISTS acme_accounts;
DROP TABLE IF EXISTS acme_cas;
