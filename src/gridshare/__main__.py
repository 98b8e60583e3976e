from gridshare.cli import app

app()
