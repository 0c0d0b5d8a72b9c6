"""One search box over everything a case holds (numbers, titles, notes, URLs, fakes, drafts, reviews)."""
