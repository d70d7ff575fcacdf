"""The Slack front end: the bolt app, the /lbhealth grammar and the root/status messages."""
