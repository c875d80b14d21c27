-- zart on MySQL, version 3: a message may carry an idempotency key, unique
-- within its execution, so that a send tried again after a lost answer
-- stores the message once.

ALTER TABLE {messages} ADD COLUMN idempotency_key VARCHAR(255) NULL,
  ADD UNIQUE KEY {name_messages_key} (execution_id, idempotency_key);
