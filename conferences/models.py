# Conferences land with the conferences issue.
