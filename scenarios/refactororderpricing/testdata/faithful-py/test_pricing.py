import unittest

from money import div_round
from validation import Refused, merge_lines, validate


class MoneyTest(unittest.TestCase):
    def test_half_to_even(self):
        self.assertEqual([div_round(2765, 10), div_round(2775, 10)], [276, 278])


class ValidationTest(unittest.TestCase):
    def test_merge_keeps_first_position(self):
        self.assertEqual(merge_lines([{"sku": "A", "qty": 2}, {"sku": "B", "qty": 1}, {"sku": "A", "qty": 3}]),
                         [("A", 5), ("B", 1)])

    def test_400_before_422(self):
        with self.assertRaises(Refused) as r:
            validate({"items": [{"sku": "COFFEE", "qty": 1}, {"sku": "TEA-GREEN", "qty": 1000}]})
        self.assertEqual(r.exception.status, 400)


if __name__ == "__main__":
    unittest.main()
