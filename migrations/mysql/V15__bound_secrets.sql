-- V15: secrets bound to their place: envelopes v2 carry (table, column, row id) as associated data; the re-seal of older values runs in Rust at the next open and records itself here

INSERT INTO certdeck_meta (meta_key, meta_value) VALUES ('secrets_bound', 'pending');
