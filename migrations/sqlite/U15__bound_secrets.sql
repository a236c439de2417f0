-- U15: undo V15 (the marker only: values stay sealed as v2 envelopes, which certdeck before V15 cannot open; re-enter those secrets after a rollback, or restore a backup taken before V15)

DELETE FROM certdeck_meta WHERE meta_key = 'secrets_bound';
