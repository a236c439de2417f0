-- U19: undo V19

DROP TABLE IF EXISTS agent_challenges;
DROP TABLE IF EXISTS server_agents;
