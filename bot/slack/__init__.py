"""The Slack front end: the bolt app and the /lbhealth grammar (its messages are rendered by bot.render)."""
