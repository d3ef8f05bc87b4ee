import unittest

from words import slugify


class SlugifyTest(unittest.TestCase):
    def test_joins_words_with_hyphens(self) -> None:
        self.assertEqual(slugify("Hello Big World"), "hello-big-world")


if __name__ == "__main__":
    unittest.main()
