"""Local stand-ins for the services lbhealth talks to: all listen on 127.0.0.1 only."""
