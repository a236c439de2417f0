-- U5: undo V5, drops scheduled_tasks, task_logs, tasks
DROP TABLE IF EXISTS scheduled_tasks;
DROP TABLE IF EXISTS task_logs;
DROP TABLE IF EXISTS tasks;
