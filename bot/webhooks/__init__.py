"""Alarm receivers: CloudWatch through SNS (and EventBridge), Tencent Cloud Monitor callbacks.

`routes.register(app, deps)` adds the endpoints; `sns` verifies SNS messages; `alarms` parses the
payloads into one `Alarm`; `jobs` turns an alarm into a diagnosis job and back. Incident state
(one thread per alarm episode) lives in `bot.incidents`.
"""
