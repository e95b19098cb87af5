"""The public showcase (展播): which recommended works the public sees, their public copies, voters and likes.

The showcase owns its tables; a work's review status is never changed by it. ``catalog`` answers the one
question every other part asks: is this work on the showcase now?
"""
