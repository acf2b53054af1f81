def test_price():
    pass


def test_handler():
    pass


def helper():
    pass
