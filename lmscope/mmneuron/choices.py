"""The option letters of multiple-choice questions (PMC-VQA's four options, A to D).

A module of its own because three others that do not depend on one another read them: the image generator
writes the right option's letter as the answer (synthetic_images), the prompts list the options by letter
(prompts), and the metric reads a letter back from an answer (vqa_metrics).
"""

LETTERS = "ABCD"
