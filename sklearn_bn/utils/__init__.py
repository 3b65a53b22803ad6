"""What the parts of the package share: scikit-learn's private names, the
moment algebra, callbacks, rollback and show_versions."""
