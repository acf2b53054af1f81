import os


def url():
    # DATABASE_URL is set, but this reads a name nobody sets.
    return os.environ["DATABSE_URL"]
