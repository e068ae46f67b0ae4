"""Evaluation: the paper's Table 3 on benchmark folders (``scoring``), side-by-side pictures
(``comparison``) and README's tables written from the rows (``markdown``)."""
