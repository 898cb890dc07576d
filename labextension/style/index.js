import './base.css';
import './builder.css';
