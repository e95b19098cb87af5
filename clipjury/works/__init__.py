"""Works, their file versions and their lifecycle."""
