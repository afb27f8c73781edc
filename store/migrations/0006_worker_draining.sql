-- A drain (coord.drain) is kept apart from the worker's state: the state of a disconnected worker is
-- `gone`, which lost the drain at the next reconnect or restart.
ALTER TABLE workers ADD COLUMN draining INTEGER NOT NULL DEFAULT 0;
UPDATE workers SET draining = 1 WHERE state = 'draining';
