"""Shared data of the real-model tests."""

from __future__ import annotations

#: Movie records: the judge questions are easy for a real model and hard for this one.
MOVIES = {
    "toy": {"title": "Toy Story", "year": 1995, "genres": "Animation|Comedy"},
    "god": {"title": "The Godfather", "year": 1972, "genres": "Crime|Drama"},
    "nemo": {"title": "Finding Nemo", "year": 2003, "genres": "Animation|Adventure"},
    "list": {"title": "Schindler's List", "year": 1993, "genres": "Drama|War"},
    "jaws": {"title": "Jaws", "year": 1975, "genres": "Horror|Thriller"},
}
