-- zart on SQLite, version 7: an execution waiting for an event says so as
-- "event:<name>" in waiting_for, beside "topic:<topic>" and "children", so
-- an event named "children" or "topic:x" wakes no other kind of wait.

UPDATE executions SET waiting_for = 'event:' || waiting_for
 WHERE waiting_for IS NOT NULL AND waiting_for <> 'children' AND waiting_for NOT LIKE 'topic:%';
