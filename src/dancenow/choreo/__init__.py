"""Choreography: a recurrent network trained on 2D pose sequences that makes up new dances."""
