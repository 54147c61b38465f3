"""What runs produced: run directories, replications and their statistics."""
