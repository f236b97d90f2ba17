"""Local look-alikes of the sources (BLS directory, DataUSA API) and the offline sample."""
