-- zart on PostgreSQL, version 9: a message may carry an idempotency key, unique
-- within its execution, so that a send tried again after a lost answer
-- stores the message once.

ALTER TABLE {messages} ADD COLUMN idempotency_key text;
CREATE UNIQUE INDEX {name_messages_key} ON {messages} (execution_id, idempotency_key)
 WHERE idempotency_key IS NOT NULL;
