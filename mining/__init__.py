"""Mining: the only package that talks to GitHub; writes bug records into the store."""
