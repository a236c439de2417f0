-- U3: undo V3, drops dns_challenges, certificate_deployments, certificates
DROP TABLE IF EXISTS dns_challenges;
DROP TABLE IF EXISTS certificate_deployments;
DROP TABLE IF EXISTS certificates;
