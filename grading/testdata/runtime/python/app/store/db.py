import psycopg2


def connect(url):
    # The database is not there: psycopg2 raises OperationalError.
    return psycopg2.connect(url, connect_timeout=1)


def amount_of(body):
    return int(body["amount"])
