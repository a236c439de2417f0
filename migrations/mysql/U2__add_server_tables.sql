-- U2: undo V2, drops server_group_mappings, server_groups, server_configs, servers
DROP TABLE IF EXISTS server_group_mappings;
DROP TABLE IF EXISTS server_groups;
DROP TABLE IF EXISTS server_configs;
DROP TABLE IF EXISTS servers;
