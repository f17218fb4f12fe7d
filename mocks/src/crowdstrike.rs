//! PLACEHOLDER: the crowdstrike mock.
