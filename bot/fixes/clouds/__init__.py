"""Each cloud provider's writes, one module per provider named as in checks.providers.

bot/fixes/clouds/<provider name>.py holds `WRITER` (a `bot.fixes.base.SecurityGroupWriter`);
`bot.fixes.cloud` finds it by that name, so a new provider's writes need no registration here.
"""
